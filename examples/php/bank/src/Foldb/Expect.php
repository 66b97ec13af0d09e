<?php

declare(strict_types=1);

namespace Foldb;

/** The EXPECT option of EVENT.APPEND. */
final readonly class Expect
{
    private function __construct(public string $value)
    {
    }

    /** The stream must be at exactly this version (0: must not exist). */
    public static function version(int $version): self
    {
        return $version === 0 ? self::new() : new self((string) $version);
    }

    public static function new(): self
    {
        return new self('NEW');
    }

    public static function exists(): self
    {
        return new self('EXISTS');
    }

    public static function any(): self
    {
        return new self('ANY');
    }
}
