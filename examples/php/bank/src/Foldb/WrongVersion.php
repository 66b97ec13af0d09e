<?php

declare(strict_types=1);

namespace Foldb;

/**
 * EVENT.APPEND ... EXPECT did not match the stream's version: someone else
 * wrote first. Nothing was written.
 * "WRONGVERSION expected 4 but account:42 is at version 5"
 */
final class WrongVersion extends FoldbError
{
    /** The stream's version when the append was refused, if the reply says. */
    public function actualVersion(): ?int
    {
        return preg_match('/ is at version (\d+)$/', $this->getMessage(), $m) ? (int) $m[1] : null;
    }
}
