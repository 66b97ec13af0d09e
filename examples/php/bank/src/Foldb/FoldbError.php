<?php

declare(strict_types=1);

namespace Foldb;

use RuntimeException;

/**
 * An error reply from foldb, e.g. "ERR invalid JSON in event data: ...".
 * The message is the reply's text, as the server sent it.
 */
class FoldbError extends RuntimeException
{
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

    /** The upper-case code that starts the reply: ERR, WRONGVERSION, REJECTED, ... */
    public function errorCode(): string
    {
        return strtok($this->getMessage(), ' ') ?: '';
    }
}
