<?php

declare(strict_types=1);

// The app over Predis: FOLDB_HOST / FOLDB_PORT, default 127.0.0.1:6380.
// FOLDB_PREDIS_AUTOLOAD names Predis's autoload.php (e.g. Composer's
// vendor/autoload.php); by default it is Debian's php-nrk-predis, found on
// the include path as Predis/autoload.php.

require dirname(__DIR__) . '/src/autoload.php';
require getenv('FOLDB_PREDIS_AUTOLOAD') ?: 'Predis/autoload.php';

use Bank\Store;
use Foldb\Client;
use Foldb\PredisConnection;

Store::use(new Client(PredisConnection::fromEnv()));
