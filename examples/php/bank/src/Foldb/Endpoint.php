<?php

declare(strict_types=1);

namespace Foldb;

/** Where foldb listens. */
final readonly class Endpoint
{
    public function __construct(
        public string $host = '127.0.0.1',
        public int $port = 6380,
        public float $timeout = 2.0,
        public float $readTimeout = 10.0,
    ) {
    }

    /** FOLDB_HOST and FOLDB_PORT, defaulting to 127.0.0.1:6380. */
    public static function fromEnv(): self
    {
        $host = getenv('FOLDB_HOST');
        $port = getenv('FOLDB_PORT');

        return new self(
            host: $host === false || $host === '' ? '127.0.0.1' : $host,
            port: $port === false || $port === '' ? 6380 : (int) $port,
        );
    }

    public function __toString(): string
    {
        return "{$this->host}:{$this->port}";
    }
}
