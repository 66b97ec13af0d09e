<?php

declare(strict_types=1);

namespace Bank;

use Foldb\Client;
use LogicException;

/**
 * The foldb client the models use, set once by a bootstrap file (the way an
 * ORM's models find their connection).
 */
final class Store
{
    private static ?Client $client = null;

    public static function use(Client $client): void
    {
        self::$client = $client;
    }

    public static function client(): Client
    {
        return self::$client ?? throw new LogicException('No foldb client: require a bootstrap.php first');
    }
}
