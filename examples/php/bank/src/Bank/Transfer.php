<?php

declare(strict_types=1);

namespace Bank;

use Foldb\ConnectionLost;
use Foldb\Loading;
use InvalidArgumentException;

/**
 * Money moved from one account to another: a BalanceDecreased on the one
 * and a BalanceIncreased on the other, appended in one transaction, so that
 * foldb writes both or neither, even when it is killed in between.
 *
 *     Transfer::between('1', '2', 30)->persist();
 *
 * Both events carry META {"transfer": "<id>"}, which pairs them in the log,
 * and their appends the IDs "<id>-out" and "<id>-in": a transfer persisted
 * again with the same id, after a lost reply or by a client that retries a
 * request, is written once. The withdrawal's guard (balance >= amount)
 * decides on the server, as for a withdrawal alone: InsufficientFunds then
 * means that neither event was written. A transfer moves money: the bank's
 * totals count it both in deposits and in withdrawals, and the sum of the
 * balances does not change.
 */
final class Transfer
{
    private function __construct(
        public readonly string $id,
        public readonly AccountAggregateRoot $from,
        public readonly AccountAggregateRoot $to,
        public readonly int $amount,
    ) {
    }

    /**
     * Reads both accounts and records the two events; persist() writes them.
     *
     * @param string|null $id the transfer's id (e.g. a request's idempotency key), random when null
     *
     * @throws AccountNotFound an account is not open
     * @throws InvalidAmount   $amount is not positive
     */
    public static function between(string $from, string $to, int $amount, ?string $id = null): self
    {
        if ($from === $to) {
            throw new InvalidArgumentException("a transfer needs two accounts, got {$from} twice");
        }
        $id ??= bin2hex(random_bytes(16));
        if ($id === '') {
            throw new InvalidArgumentException('a transfer id must not be empty');
        }

        return new self(
            $id,
            AccountAggregateRoot::find($from)->decreaseBalance($amount),
            AccountAggregateRoot::find($to)->increaseBalance($amount),
            $amount,
        );
    }

    /**
     * Writes both events in one transaction, or neither.
     *
     * @throws InsufficientFunds   the source account's balance is below the amount
     * @throws BankException       a replayed call no longer holds (an account was closed meanwhile)
     * @throws ConcurrencyConflict the accounts kept changing under us
     * @throws ConnectionLost      foldb could not be reached; both or neither were written
     * @throws Loading             foldb was still loading after all resends; nothing was written
     */
    public function persist(): self
    {
        AccountAggregateRoot::persistTogether(
            ["{$this->id}-out" => $this->from, "{$this->id}-in" => $this->to],
            ['transfer' => $this->id],
        );

        return $this;
    }

    /** How many times persist() read the accounts again because another request wrote first. */
    public function retries(): int
    {
        return $this->from->retries();
    }

    /** How many times persist() sent the transaction again after a lost connection. */
    public function resends(): int
    {
        return $this->from->resends();
    }
}
