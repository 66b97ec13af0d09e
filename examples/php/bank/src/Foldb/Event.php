<?php

declare(strict_types=1);

namespace Foldb;

/** An event to append: a type and its data (a JSON object). */
final readonly class Event
{
    /** @param array<string, mixed> $data */
    public function __construct(public string $type, public array $data = [])
    {
    }
}
