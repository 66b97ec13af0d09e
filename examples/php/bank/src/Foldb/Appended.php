<?php

declare(strict_types=1);

namespace Foldb;

/** EVENT.APPEND's reply: the stream's version and the global position of the last event. */
final readonly class Appended
{
    public function __construct(public int $version, public int $position)
    {
    }
}
