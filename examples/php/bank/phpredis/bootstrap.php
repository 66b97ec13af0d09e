<?php

declare(strict_types=1);

// The app over phpredis: FOLDB_HOST / FOLDB_PORT, default 127.0.0.1:6380.

require dirname(__DIR__) . '/src/autoload.php';

use Bank\Store;
use Foldb\Client;
use Foldb\PhpRedisConnection;

if (!extension_loaded('redis')) {
    fwrite(STDERR, "the phpredis extension is not loaded\n");
    exit(2);
}

Store::use(new Client(PhpRedisConnection::fromEnv()));
