<?php

declare(strict_types=1);

// A reactor: sends a welcome mail for every AccountOpened, once, however
// often it is delivered. Run several; each is a consumer of the group
// "mailer" on $ce-account (every stream account:*).
//
//   php reactor.php <mail-folder> [consumer-name]
//
// FOLDB_CLIENT=phpredis (default) or predis; FOLDB_HOST, FOLDB_PORT.
// It runs until SIGTERM or SIGINT, and rides out foldb's restarts.

require dirname(__DIR__) . '/bank/src/autoload.php';

use Bank\WelcomeMailer;
use Foldb\ConnectionLost;
use Foldb\ConsumerGroup;
use Foldb\Loading;
use Foldb\PhpRedisConnection;
use Foldb\PredisConnection;

if ($argc < 2) {
    fwrite(STDERR, "usage: php reactor.php <mail-folder> [consumer-name]\n");
    exit(2);
}
$mailer = new WelcomeMailer($argv[1]);
$name = $argv[2] ?? gethostname() . '-' . getmypid();

$connection = match (getenv('FOLDB_CLIENT') ?: 'phpredis') {
    'phpredis' => PhpRedisConnection::fromEnv(),
    'predis' => (static function () {
        require_once getenv('FOLDB_PREDIS_AUTOLOAD') ?: 'Predis/autoload.php';
        return PredisConnection::fromEnv();
    })(),
    default => throw new InvalidArgumentException('FOLDB_CLIENT must be phpredis or predis'),
};
$group = new ConsumerGroup($connection, '$ce-account', 'mailer', $name);

$stop = false;
if (function_exists('pcntl_signal')) {
    pcntl_async_signals(true);
    pcntl_signal(SIGTERM, static function () use (&$stop) { $stop = true; });
    pcntl_signal(SIGINT, static function () use (&$stop) { $stop = true; });
}

// Entries another consumer left pending this long are taken over: that
// consumer is taken for dead. Keep it well above a handler's time.
const CLAIM_IDLE_MS = 3000;

$handle = static function (array $events) use ($mailer, $group): void {
    $ids = [];
    foreach ($events as $event) {
        if ($event->type === 'AccountOpened' && $mailer->send($event)) {
            echo "mailed {$event->stream}\n";
        }
        $ids[] = "{$event->position}-0";
    }
    $group->ack(...$ids);
};

$created = false;
$lastClaim = 0.0;
while (!$stop) {
    try {
        if (!$created) {
            $group->create();
            $created = true;
        }
        if (microtime(true) - $lastClaim > CLAIM_IDLE_MS / 2000) {
            $lastClaim = microtime(true);
            $handle($group->autoClaim(CLAIM_IDLE_MS, 100));
        }
        $handle($group->read(100, 1000));
    } catch (ConnectionLost | Loading $e) {
        // foldb restarts: what was read and not acknowledged stays pending
        // and comes back, to this consumer or by XAUTOCLAIM to another.
        fwrite(STDERR, "reactor {$name}: {$e->getMessage()}; retrying\n");
        usleep(100_000);
    }
}
