<?php

declare(strict_types=1);

// For the scripts beside it: FOLDB_CLIENT=phpredis (default) or predis picks
// the client's bootstrap.

$client = getenv('FOLDB_CLIENT') ?: 'phpredis';
if (!in_array($client, ['phpredis', 'predis'], true)) {
    fwrite(STDERR, "FOLDB_CLIENT must be phpredis or predis, not {$client}\n");
    exit(2);
}
require __DIR__ . "/{$client}/bootstrap.php";
