<?php

declare(strict_types=1);

namespace Foldb;

use Predis\Client;
use Predis\CommunicationException;

/**
 * FoldbConnection over Predis.
 *
 * Client::executeRaw() does not throw on an error reply: it returns the
 * error's text as a string and sets its second argument to true. Broken
 * connections throw a CommunicationException.
 */
final class PredisConnection implements FoldbConnection
{
    private readonly Client $client;

    public function __construct(private readonly Endpoint $endpoint)
    {
        $this->client = new Client([
            'scheme' => 'tcp',
            'host' => $endpoint->host,
            'port' => $endpoint->port,
            'timeout' => $endpoint->timeout,
            'read_write_timeout' => $endpoint->readTimeout,
        ]);
    }

    public static function fromEnv(): self
    {
        return new self(Endpoint::fromEnv());
    }

    public function command(array $args): mixed
    {
        try {
            $reply = $this->client->executeRaw(array_map(strval(...), $args), $isError);
        } catch (CommunicationException $e) {
            $this->client->disconnect();
            throw new ConnectionLost("foldb at {$this->endpoint}: {$e->getMessage()}", 0, $e);
        }
        if ($isError) {
            throw FoldbError::fromReply((string) $reply);
        }

        return $reply;
    }
}
