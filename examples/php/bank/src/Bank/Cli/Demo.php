<?php

declare(strict_types=1);

namespace Bank\Cli;

use Bank\AccountAlreadyOpen;
use Bank\Bank;
use Bank\Http\AccountsController;
use Bank\Http\BalanceController;
use Bank\InsufficientFunds;

/** The walk-through of the README, against a running foldb. */
final class Demo
{
    public function __construct(
        private readonly AccountsController $accounts = new AccountsController(),
        private readonly BalanceController $balance = new BalanceController(),
    ) {
    }

    public function __invoke(): int
    {
        foreach (['101' => 'Alice', '102' => 'Bob'] as $id => $name) {
            try {
                $account = $this->accounts->open((string) $id, $name);
                self::say("open {$id} ({$name})", "version {$account->version()}");
            } catch (AccountAlreadyOpen $e) {
                self::say("open {$id} ({$name})", $e->getMessage() . ', going on');
            }
        }

        $alice = $this->balance->increase('101', 100);
        self::say('increase 101 by 100', "balance {$alice->balance()}, version {$alice->version()}");
        $bob = $this->balance->increase('102', 50);
        self::say('increase 102 by 50', "balance {$bob->balance()}, version {$bob->version()}");
        $alice = $this->balance->decrease('101', 30);
        self::say('decrease 101 by 30', "balance {$alice->balance()}, version {$alice->version()}");

        try {
            $this->balance->decrease('102', 1_000_000);
            self::say('decrease 102 by 1000000', 'accepted?!');

            return 1;
        } catch (InsufficientFunds $e) {
            self::say('decrease 102 by 1000000', get_class($e) . ': ' . $e->getMessage()
                . ' (foldb said: ' . $e->getPrevious()?->getMessage() . ')');
        }

        $transfer = $this->balance->transfer('101', '102', 20);
        self::say('transfer 20 101->102', "balances {$transfer->from->balance()} and {$transfer->to->balance()}, versions {$transfer->from->version()} and {$transfer->to->version()}");
        try {
            $this->balance->transfer('102', '101', 1_000_000);
            self::say('transfer 1000000 102->101', 'accepted?!');

            return 1;
        } catch (InsufficientFunds $e) {
            self::say('transfer 1000000 102->101', get_class($e) . ': ' . $e->getMessage()
                . ' (foldb said: ' . $e->getPrevious()?->getMessage() . ')');
        }

        self::say('Account::all()', self::json($this->accounts->index()));
        self::say("Account::where('balance > 60', 'balance', 'desc', 10)", self::json($this->accounts->richest(10, 60)));
        self::say('Bank::totals()', self::json(Bank::totals()));

        return 0;
    }

    private static function say(string $what, string $result): void
    {
        echo str_pad($what, 26), ' -> ', $result, PHP_EOL;
    }

    private static function json(mixed $value): string
    {
        return json_encode($value, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
    }
}
