<?php

declare(strict_types=1);

namespace Foldb;

/**
 * A guard of the schema refused the append ("REJECTED insufficient funds").
 * Nothing was written.
 */
final class Rejected extends FoldbError
{
    /** The guard's message, e.g. "insufficient funds". */
    public function reason(): string
    {
        return substr($this->getMessage(), strlen('REJECTED '));
    }
}
