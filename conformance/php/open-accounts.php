<?php
// Opens accounts for TestPHPReactors (conformance/reactor_test.go):
//
//   php open-accounts.php PORT WORKER WORKERS ACCOUNTS
//
// appends one AccountOpened to each account:<n>, n in 1..ACCOUNTS with
// n % WORKERS == WORKER, over phpredis and the bank's FoldbConnection. The
// test kills foldb meanwhile: an append that got no answer (ConnectionLost,
// or LOADING while foldb replays its log) is sent again with the same ID,
// which makes the resend a no-op when the first one made it. Ends with the
// line "PASS <appends> <resends>".

declare(strict_types=1);
require dirname(__DIR__, 2) . '/examples/php/bank/src/autoload.php';

use Foldb\ConnectionLost;
use Foldb\Endpoint;
use Foldb\Loading;
use Foldb\PhpRedisConnection;

if ($argc !== 5) {
    fwrite(STDERR, "usage: php open-accounts.php PORT WORKER WORKERS ACCOUNTS\n");
    exit(2);
}
[, $port, $worker, $workers, $accounts] = array_map(intval(...), $argv);

// Long enough for foldb to be killed, restarted and to replay its log.
const GIVE_UP_AFTER_S = 40.0;

$connection = new PhpRedisConnection(new Endpoint(port: $port));
$appends = 0;
$resends = 0;
for ($n = 1; $n <= $accounts; $n++) {
    if ($n % $workers !== $worker) {
        continue;
    }
    $args = ['EVENT.APPEND', "account:{$n}", 'ID', "open-{$n}", 'AccountOpened', json_encode(['name' => "owner {$n}"])];
    $deadline = microtime(true) + GIVE_UP_AFTER_S;
    for (;;) {
        try {
            $reply = $connection->command($args);
            break;
        } catch (ConnectionLost | Loading $e) {
            if (microtime(true) > $deadline) {
                fwrite(STDERR, "account:{$n}: no answer for " . GIVE_UP_AFTER_S . " s: {$e->getMessage()}\n");
                exit(1);
            }
            $resends++;
            usleep(20_000);
        }
    }
    // Each stream gets this one event: version 1, resent or not.
    if (!is_array($reply) || count($reply) !== 2 || $reply[0] !== 1 || !is_int($reply[1])) {
        fwrite(STDERR, "account:{$n}: EVENT.APPEND replied " . var_export($reply, true) . "\n");
        exit(1);
    }
    $appends++;
}
echo "PASS {$appends} {$resends}\n";
