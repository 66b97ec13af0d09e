<?php

declare(strict_types=1);

namespace Bank\Cli;

use Bank\AccountAggregateRoot;
use Bank\ConcurrencyConflict;
use Bank\InsufficientFunds;
use InvalidArgumentException;

/**
 * One process of the load test: random increases and decreases on accounts
 * 1..N, each through the aggregate root. Prints one JSON line with what it
 * did to each account, for check.php to compare with foldb's state.
 * (It calls the aggregate root as BalanceController does, and keeps the
 * root to count its retries, also those of a rejected withdrawal.)
 *
 *     php worker.php <worker-id> <increases> <decreases> <accounts>
 */
final class Worker
{
    private const MAX_INCREASE = 100;
    private const MAX_DECREASE = 150;

    /** @param list<string> $argv */
    public function __invoke(array $argv): int
    {
        if (count($argv) !== 5) {
            throw new InvalidArgumentException('usage: worker.php <worker-id> <increases> <decreases> <accounts>');
        }
        [, $worker, $increases, $decreases, $accounts] = $argv;

        $ops = array_merge(array_fill(0, (int) $increases, 'increase'), array_fill(0, (int) $decreases, 'decrease'));
        shuffle($ops);

        $tally = [];
        for ($i = 1; $i <= (int) $accounts; ++$i) {
            $tally[(string) $i] = ['net' => 0, 'deposits' => 0, 'withdrawals' => 0, 'applied' => 0, 'rejected' => 0, 'conflicts' => 0, 'retries' => 0, 'resends' => 0];
        }
        $started = microtime(true);
        foreach ($ops as $op) {
            $id = (string) random_int(1, (int) $accounts);
            $t = &$tally[$id];
            $root = AccountAggregateRoot::find($id);
            if ($op === 'increase') {
                $amount = random_int(1, self::MAX_INCREASE);
                $root->increaseBalance($amount);
            } else {
                $amount = random_int(1, self::MAX_DECREASE);
                $root->decreaseBalance($amount);
            }
            try {
                $root->persist();
                ++$t['applied'];
                $t['net'] += $op === 'increase' ? $amount : -$amount;
                $t[$op === 'increase' ? 'deposits' : 'withdrawals'] += $amount;
            } catch (InsufficientFunds) {
                ++$t['rejected'];
            } catch (ConcurrencyConflict) {
                ++$t['conflicts'];
            }
            $t['retries'] += $root->retries();
            $t['resends'] += $root->resends();
            unset($t);
        }

        echo json_encode([
            'worker' => $worker,
            'seconds' => round(microtime(true) - $started, 3),
            'accounts' => $tally,
        ], JSON_THROW_ON_ERROR), PHP_EOL;

        return 0;
    }
}
