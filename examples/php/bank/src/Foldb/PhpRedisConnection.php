<?php

declare(strict_types=1);

namespace Foldb;

use Redis;
use RedisException;

/**
 * FoldbConnection over the phpredis extension.
 *
 * phpredis reports an error reply in two ways: for "ERR ..." rawCommand()
 * returns false and keeps the text for getLastError(); for other codes
 * (WRONGVERSION, REJECTED, ...) it throws RedisException. It also throws
 * RedisException when the connection breaks. The reply text left in
 * getLastError() tells the two apart. And since rawCommand() returns false
 * for nil too, false is nil unless getLastError() says otherwise.
 */
final class PhpRedisConnection implements FoldbConnection
{
    private ?Redis $redis = null;

    public function __construct(private readonly Endpoint $endpoint)
    {
    }

    public static function fromEnv(): self
    {
        return new self(Endpoint::fromEnv());
    }

    public function command(array $args): mixed
    {
        $redis = $this->redis ??= $this->connect();
        $redis->clearLastError();
        try {
            $reply = $redis->rawCommand(...array_map(strval(...), $args));
        } catch (RedisException $e) {
            $serverSaid = $redis->getLastError();
            if ($serverSaid !== null && $serverSaid === $e->getMessage()) {
                throw FoldbError::fromReply($serverSaid);
            }
            $this->redis = null;
            throw new ConnectionLost("foldb at {$this->endpoint}: {$e->getMessage()}", 0, $e);
        }
        if ($reply === false && ($error = $redis->getLastError()) !== null) {
            throw FoldbError::fromReply($error);
        }

        return self::normalize($reply);
    }

    private function connect(): Redis
    {
        $redis = new Redis();
        try {
            $redis->connect($this->endpoint->host, $this->endpoint->port, $this->endpoint->timeout);
            $redis->setOption(Redis::OPT_READ_TIMEOUT, $this->endpoint->readTimeout);
        } catch (RedisException $e) {
            throw new ConnectionLost("foldb at {$this->endpoint}: {$e->getMessage()}", 0, $e);
        }

        return $redis;
    }

    /** phpredis gives false for nil and true for a status reply. */
    private static function normalize(mixed $reply): mixed
    {
        return match (true) {
            $reply === false => null,
            $reply === true => 'OK',
            is_array($reply) => array_map(self::normalize(...), $reply),
            default => $reply,
        };
    }
}
