<?php

declare(strict_types=1);

namespace Bank\Cli;

use Bank\AccountAggregateRoot;
use Bank\ConcurrencyConflict;
use Bank\InsufficientFunds;
use Bank\Transfer;
use InvalidArgumentException;

/**
 * One process of the load test: random increases, decreases and transfers
 * on accounts 1..N, each through the aggregate root (a transfer through
 * Transfer, between two different accounts). Prints one JSON line with what
 * it did to each account, for check.php to compare with foldb's state.
 * (It calls the aggregate root as BalanceController does, and keeps the
 * root to count its retries, also those of a rejected withdrawal.)
 *
 *     php worker.php <worker-id> <increases> <decreases> <accounts> [transfers]
 */
final class Worker
{
    private const MAX_INCREASE = 100;
    private const MAX_DECREASE = 150;
    private const MAX_TRANSFER = 150;

    /** What a worker reports per account. A transfer's counts are kept on its source account. */
    private const TALLY = [
        'net' => 0,              // balance change, transfers included
        'deposits' => 0,         // increases, not transfers
        'withdrawals' => 0,      // decreases, not transfers
        'transferred_in' => 0,
        'transferred_out' => 0,
        'applied' => 0,          // events appended to the stream: one per operation, one per transfer leg
        'rejected' => 0,         // withdrawals refused for insufficient funds
        'transfers' => 0,        // transfers written
        'transfers_rejected' => 0,
        'conflicts' => 0,
        'retries' => 0,
        'resends' => 0,
    ];

    /** @param list<string> $argv */
    public function __invoke(array $argv): int
    {
        if (count($argv) !== 5 && count($argv) !== 6) {
            throw new InvalidArgumentException('usage: worker.php <worker-id> <increases> <decreases> <accounts> [transfers]');
        }
        [, $worker, $increases, $decreases, $accounts] = $argv;
        $accounts = (int) $accounts;
        $transfers = (int) ($argv[5] ?? 0);
        if ($transfers > 0 && $accounts < 2) {
            throw new InvalidArgumentException('transfers need at least 2 accounts');
        }

        $ops = array_merge(
            array_fill(0, (int) $increases, 'increase'),
            array_fill(0, (int) $decreases, 'decrease'),
            array_fill(0, $transfers, 'transfer'),
        );
        shuffle($ops);

        $tally = [];
        for ($i = 1; $i <= $accounts; ++$i) {
            $tally[(string) $i] = self::TALLY;
        }
        $started = microtime(true);
        foreach ($ops as $op) {
            $id = (string) random_int(1, $accounts);
            if ($op === 'transfer') {
                $to = (string) ((((int) $id) + random_int(0, $accounts - 2)) % $accounts + 1); // any account but $id
                self::transfer($tally, $id, $to, random_int(1, self::MAX_TRANSFER));
                continue;
            }
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

    /** @param array<string, array<string, int>> $tally */
    private static function transfer(array &$tally, string $from, string $to, int $amount): void
    {
        $transfer = Transfer::between($from, $to, $amount);
        try {
            $transfer->persist();
            ++$tally[$from]['transfers'];
            foreach ([$from => -$amount, $to => $amount] as $id => $change) {
                ++$tally[$id]['applied'];
                $tally[$id]['net'] += $change;
                $tally[$id][$change < 0 ? 'transferred_out' : 'transferred_in'] += $amount;
            }
        } catch (InsufficientFunds) {
            ++$tally[$from]['transfers_rejected'];
        } catch (ConcurrencyConflict) {
            ++$tally[$from]['conflicts'];
        }
        $tally[$from]['retries'] += $transfer->retries();
        $tally[$from]['resends'] += $transfer->resends();
    }
}
