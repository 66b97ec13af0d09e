<?php

declare(strict_types=1);

// php worker.php ... | php check.php <baseline.json>
//
// Compares foldb's state with what the workers say they did (one JSON line
// each on stdin), from the baseline that setup.php printed:
//   - each balance is the baseline plus the sum of the workers' nets,
//   - each stream grew by exactly the number of applied operations (no
//     duplicate, no lost event),
//   - each balance equals a fold of the account's events read back with
//     EVENT.READ, and no balance is below zero,
//   - the bank's totals grew by the sums of the deposits and withdrawals.
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
$total = ['net' => 0, 'deposits' => 0, 'withdrawals' => 0, 'applied' => 0, 'rejected' => 0, 'conflicts' => 0, 'retries' => 0, 'resends' => 0];
printf("%-8s %9s %9s %8s %8s %8s %8s\n", 'account', 'balance', 'expected', 'version', 'applied', 'rejected', 'retries');
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
    }
    printf("%-8s %9s %9d %8d %8d %8d %8d\n", $id, $account?->balance ?? 'missing', $expectedBalance, $version,
        $did['applied'] ?? 0, $did['rejected'] ?? 0, $did['retries'] ?? 0);

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

$totals = Bank::totals();
$expectedDeposits = $baseline['totals']['deposits'] + $total['deposits'];
$expectedWithdrawals = $baseline['totals']['withdrawals'] + $total['withdrawals'];
if ($totals->deposits !== $expectedDeposits) {
    $errors[] = "totals: deposits {$totals->deposits}, expected {$expectedDeposits}";
}
if ($totals->withdrawals !== $expectedWithdrawals) {
    $errors[] = "totals: withdrawals {$totals->withdrawals}, expected {$expectedWithdrawals}";
}

printf("%d workers: %d operations applied, %d withdrawals rejected (insufficient funds), %d WRONGVERSION retries, %d gave up, %d appends resent after a lost connection\n",
    $workers, $total['applied'], $total['rejected'], $total['retries'], $total['conflicts'], $total['resends']);
printf("totals: deposits %d (expected %d), withdrawals %d (expected %d)\n",
    $totals->deposits, $expectedDeposits, $totals->withdrawals, $expectedWithdrawals);

if ($errors !== []) {
    echo "MISMATCH\n", implode("\n", $errors), "\n";
    exit(1);
}
echo "OK\n";
