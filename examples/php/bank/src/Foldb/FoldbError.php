<?php

declare(strict_types=1);

namespace Foldb;

use LogicException;
use RuntimeException;

/**
 * An error reply from foldb, e.g. "ERR invalid JSON in event data: ...".
 * The message is the reply's text, as the server sent it.
 */
class FoldbError extends RuntimeException
{
    /**
     * EXEC's entry for each append of a refused transaction but the refused
     * one, which has its own error: it names the refused one and quotes its error.
     */
    private const EXECABORT = '/^EXECABORT Transaction discarded because command (\d+) \(.*?\) was refused: (.*)$/s';

    private ?int $command = null;

    /** Builds the most specific exception for an error reply's text. */
    public static function fromReply(string $reply): self
    {
        return match (strtok($reply, ' ')) {
            'WRONGVERSION' => new WrongVersion($reply),
            'REJECTED' => new Rejected($reply),
            'LOADING' => new Loading($reply),
            default => new self($reply),
        };
    }

    /**
     * The refused append's own error, from the error entries of EXEC's reply
     * to a transaction of appends: one of them is that error, each other one
     * an EXECABORT that names it. A client library that keeps only one entry
     * passes that one.
     *
     * @param non-empty-array<int, string> $errors the entries by their place in the transaction, from 1
     */
    public static function fromExec(array $errors): self
    {
        foreach ($errors as $place => $text) {
            if (!preg_match(self::EXECABORT, $text)) {
                return self::fromReply($text)->inTransaction($place);
            }
        }
        foreach ($errors as $text) {
            preg_match(self::EXECABORT, $text, $m);

            return self::fromReply($m[2])->inTransaction((int) $m[1]);
        }
        throw new LogicException('fromExec needs an error entry');
    }

    /** The upper-case code that starts the reply: ERR, WRONGVERSION, REJECTED, ... */
    public function errorCode(): string
    {
        return strtok($this->getMessage(), ' ') ?: '';
    }

    /** In a transaction: the place of the command that was refused, from 1; null otherwise. */
    public function command(): ?int
    {
        return $this->command;
    }

    private function inTransaction(int $place): static
    {
        $this->command = $place;

        return $this;
    }
}
