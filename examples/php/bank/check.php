<?php

declare(strict_types=1);

// php worker.php ... | php check.php <baseline.json>
//
// Compares foldb's state with what the workers say they did (one JSON line
// each on stdin), from the baseline that setup.php printed:
//   - each balance is the baseline plus the sum of the workers' nets,
//   - each stream grew by exactly the number of applied operations and
//     transfer legs (no duplicate, no lost event),
//   - each balance equals a fold of the account's events read back with
//     EVENT.READ, and no balance is below zero,
//   - transfers move money and make none: the balances together grew by
//     the deposits minus the withdrawals made outside transfers, and the
//     workers' transfers out sum to their transfers in,
//   - every transfer in the accounts' streams is whole: a BalanceDecreased
//     and a BalanceIncreased of the same amount on two accounts, with the
//     same META transfer, at adjacent positions (one commit),
//   - the bank's totals grew by the sums of the deposits and withdrawals,
//     each transfer counted in both.
// Prints OK, or every mismatch and exits 1.

require __DIR__ . '/bootstrap.php';

use Bank\Account;
use Bank\Bank;
use Bank\Store;

if (!isset($argv[1])) {
    fwrite(STDERR, "usage: php worker.php ... | php check.php <baseline.json>\n");
    exit(2);
}
$baseline = json_decode((string) file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);

$sum = [];
$workers = 0;
while (($line = fgets(STDIN)) !== false) {
    if (trim($line) === '') {
        continue;
    }
    $report = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
    ++$workers;
    foreach ($report['accounts'] as $id => $t) {
        foreach ($t as $key => $n) {
            $sum[(string) $id][$key] = ($sum[(string) $id][$key] ?? 0) + $n;
        }
    }
}

$client = Store::client();
$errors = [];
$total = ['net' => 0, 'deposits' => 0, 'withdrawals' => 0, 'transferred_in' => 0, 'transferred_out' => 0, 'applied' => 0,
    'rejected' => 0, 'transfers' => 0, 'transfers_rejected' => 0, 'conflicts' => 0, 'retries' => 0, 'resends' => 0];
$held = ['baseline' => 0, 'now' => 0];
$legs = []; // transfer id => its events in the accounts' streams
printf("%-8s %9s %9s %8s %8s %8s %9s %8s\n", 'account', 'balance', 'expected', 'version', 'applied', 'rejected', 'transfers', 'retries');
foreach ($baseline['accounts'] as $id => $base) {
    $id = (string) $id;
    $did = $sum[$id] ?? [];
    foreach ($total as $key => $_) {
        $total[$key] += $did[$key] ?? 0;
    }
    $account = Account::find($id);
    $version = $client->version("account:{$id}");
    $expectedBalance = $base['balance'] + ($did['net'] ?? 0);
    $expectedVersion = $base['version'] + ($did['applied'] ?? 0);
    $folded = 0;
    foreach ($client->read("account:{$id}") as $event) {
        $folded += match ($event->type) {
            'BalanceIncreased' => $event->data['amount'],
            'BalanceDecreased' => -$event->data['amount'],
            default => 0,
        };
        if (isset($event->meta['transfer'])) {
            $legs[(string) $event->meta['transfer']][] = $event;
        }
    }
    $held['baseline'] += $base['balance'];
    $held['now'] += $account?->balance ?? 0;
    printf("%-8s %9s %9d %8d %8d %8d %9d %8d\n", $id, $account?->balance ?? 'missing', $expectedBalance, $version,
        $did['applied'] ?? 0, $did['rejected'] ?? 0, $did['transfers'] ?? 0, $did['retries'] ?? 0);

    if ($account === null) {
        $errors[] = "account {$id}: missing";
        continue;
    }
    if ($account->balance !== $expectedBalance) {
        $errors[] = "account {$id}: balance {$account->balance}, the workers' nets give {$expectedBalance}";
    }
    if ($version !== $expectedVersion) {
        $errors[] = "account {$id}: version {$version}, expected {$expectedVersion} (baseline + applied operations)";
    }
    if ($folded !== $account->balance) {
        $errors[] = "account {$id}: balance {$account->balance}, but its events read back sum to {$folded}";
    }
    if ($account->balance < 0) {
        $errors[] = "account {$id}: balance below zero: {$account->balance}";
    }
}

$expectedHeld = $held['baseline'] + $total['deposits'] - $total['withdrawals'];
if ($held['now'] !== $expectedHeld) {
    $errors[] = "the accounts hold {$held['now']} together, the baseline plus deposits minus withdrawals outside transfers give {$expectedHeld}";
}
if ($total['transferred_in'] !== $total['transferred_out']) {
    $errors[] = "the workers' transfers put {$total['transferred_in']} in and took {$total['transferred_out']} out";
}
foreach ($legs as $transfer => $events) {
    usort($events, static fn ($a, $b): int => $a->position <=> $b->position);
    $shape = implode(' ', array_map(static fn ($e): string => "{$e->position}:{$e->stream}:{$e->type}:{$e->data['amount']}", $events));
    [$out, $in] = $events + [null, null];
    if (count($events) !== 2 || $out->type !== 'BalanceDecreased' || $in->type !== 'BalanceIncreased'
        || $out->data['amount'] !== $in->data['amount'] || $out->stream === $in->stream || $in->position !== $out->position + 1) {
        $errors[] = "transfer {$transfer} is not a withdrawal and a deposit of one amount at adjacent positions: {$shape}";
    }
}

$totals = Bank::totals();
$expectedDeposits = $baseline['totals']['deposits'] + $total['deposits'] + $total['transferred_in'];
$expectedWithdrawals = $baseline['totals']['withdrawals'] + $total['withdrawals'] + $total['transferred_out'];
if ($totals->deposits !== $expectedDeposits) {
    $errors[] = "totals: deposits {$totals->deposits}, expected {$expectedDeposits}";
}
if ($totals->withdrawals !== $expectedWithdrawals) {
    $errors[] = "totals: withdrawals {$totals->withdrawals}, expected {$expectedWithdrawals}";
}

printf("%d workers: %d events appended, %d withdrawals rejected (insufficient funds), %d transfers (%d rejected), %d WRONGVERSION retries, %d gave up, %d appends resent after a lost connection\n",
    $workers, $total['applied'], $total['rejected'], $total['transfers'], $total['transfers_rejected'], $total['retries'], $total['conflicts'], $total['resends']);
printf("held: %d (expected %d: %d + deposits %d - withdrawals %d; %d moved by transfers); %d transfers in the streams\n",
    $held['now'], $expectedHeld, $held['baseline'], $total['deposits'], $total['withdrawals'], $total['transferred_out'], count($legs));
printf("totals: deposits %d (expected %d), withdrawals %d (expected %d)\n",
    $totals->deposits, $expectedDeposits, $totals->withdrawals, $expectedWithdrawals);

if ($errors !== []) {
    echo "MISMATCH\n", implode("\n", $errors), "\n";
    exit(1);
}
echo "OK\n";
