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
 *
 * In MULTI (multi() ... exec()), phpredis 5.3 behaves so:
 *  - a command refused while queuing makes rawCommand() return false (ERR)
 *    or throw (other codes), and leaves the connection in MULTI: an exec()
 *    then reads EXEC's -EXECABORT as a broken connection ("socket error on
 *    read socket"), so transaction() sends DISCARD instead and reports the
 *    queuing error;
 *  - when EXEC's reply holds errors, exec() reads them all and throws one
 *    RedisException with the text of the last, and no array. foldb answers
 *    each append of a refused transaction but the refused one with an
 *    EXECABORT that names it and quotes its error, so that one text says
 *    which append was refused and why; when the text is the refused
 *    append's own error, that append was the last one.
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

    public function transaction(array $appends): array
    {
        $redis = $this->redis ??= $this->connect();
        $redis->clearLastError();
        $queuing = true;
        try {
            $redis->multi();
            foreach ($appends as $args) {
                if ($redis->rawCommand(...array_map(strval(...), $args)) === false) {
                    $this->discard($redis);
                    throw FoldbError::fromReply(self::lastError($redis) ?? 'ERR refused while queuing');
                }
            }
            $queuing = false;
            $replies = $redis->exec();
        } catch (RedisException $e) {
            $serverSaid = self::lastError($redis);
            if ($serverSaid === null || $serverSaid !== $e->getMessage()) {
                $this->redis = null;
                throw new ConnectionLost("foldb at {$this->endpoint}: {$e->getMessage()}", 0, $e);
            }
            if ($queuing) {
                $this->discard($redis);
                throw FoldbError::fromReply($serverSaid);
            }
            throw FoldbError::fromExec([count($appends) => $serverSaid]);
        }
        // An ERR entry alone does not throw: it is false, its text in getLastError().
        if (!is_array($replies) || ($error = self::lastError($redis)) !== null) {
            throw FoldbError::fromExec([count($appends) => $error ?? 'ERR EXEC replied ' . var_export($replies, true)]);
        }

        return array_map(self::normalize(...), $replies);
    }

    /** Leaves MULTI; a connection that cannot is dropped. */
    private function discard(Redis $redis): void
    {
        try {
            $redis->discard();
        } catch (RedisException) {
            $this->redis = null;
        }
    }

    /** getLastError() without the NUL byte that phpredis 5.3 leaves at the end of an error read in MULTI. */
    private static function lastError(Redis $redis): ?string
    {
        $error = $redis->getLastError();

        return $error === null ? null : rtrim($error, "\0");
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
