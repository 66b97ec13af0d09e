<?php

declare(strict_types=1);

// The app over Predis: FOLDB_HOST / FOLDB_PORT, default 127.0.0.1:6380.

require dirname(__DIR__) . '/src/autoload.php';
require 'Predis/autoload.php'; // Debian's php-nrk-predis; or vendor/autoload.php with Composer

use Bank\Store;
use Foldb\Client;
use Foldb\PredisConnection;

Store::use(new Client(PredisConnection::fromEnv()));
