<?php

declare(strict_types=1);

namespace Foldb;

use Predis\Client;
use Predis\Command\RawCommand;
use Predis\CommunicationException;
use Predis\Response\ErrorInterface;
use Predis\Response\ServerException;
use Predis\Transaction\AbortedMultiExecException;
use Predis\Transaction\MultiExec;

/**
 * FoldbConnection over Predis.
 *
 * Client::executeRaw() does not throw on an error reply: it returns the
 * error's text as a string and sets its second argument to true. Broken
 * connections throw a CommunicationException.
 *
 * Transactions go through Client::transaction(), which takes any command as
 * a RawCommand. With its default exceptions => true, Predis 1.1 throws a
 * ServerException with the first error entry of EXEC's reply and drops the
 * others; with exceptions => false, as here, it returns every entry, an
 * error as a Predis\Response\Error. A command refused while queuing throws
 * AbortedMultiExecException with the server's text, after Predis sent DISCARD.
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
            $this->lost($e);
        }
        if ($isError) {
            throw FoldbError::fromReply((string) $reply);
        }

        return $reply;
    }

    public function transaction(array $appends): array
    {
        try {
            $replies = $this->client->transaction(['exceptions' => false], static function (MultiExec $tx) use ($appends): void {
                foreach ($appends as $args) {
                    $tx->executeCommand(RawCommand::create(...array_map(strval(...), $args)));
                }
            });
        } catch (AbortedMultiExecException|ServerException $e) {
            throw FoldbError::fromReply($e->getMessage());
        } catch (CommunicationException $e) {
            $this->lost($e);
        }
        $errors = [];
        foreach ($replies as $i => $reply) {
            if ($reply instanceof ErrorInterface) {
                $errors[$i + 1] = $reply->getMessage();
            }
        }
        if ($errors !== []) {
            throw FoldbError::fromExec($errors);
        }

        return $replies;
    }

    private function lost(CommunicationException $e): never
    {
        $this->client->disconnect();
        throw new ConnectionLost("foldb at {$this->endpoint}: {$e->getMessage()}", 0, $e);
    }
}
