<?php

declare(strict_types=1);

namespace Foldb;

/**
 * ENTITY.GET ... WITHVERSION: the entity (null when absent) and the version
 * of its stream, which is what EVENT.APPEND ... EXPECT takes.
 */
final readonly class Versioned
{
    /** @param array<string, mixed>|null $data */
    public function __construct(public ?array $data, public int $version)
    {
    }
}
