<?php

declare(strict_types=1);

namespace Bank;

use Closure;
use Foldb\Append;
use Foldb\Appended;
use Foldb\Client;
use Foldb\ConnectionLost;
use Foldb\Event;
use Foldb\Expect;
use Foldb\Loading;
use Foldb\Rejected;
use Foldb\WrongVersion;
use InvalidArgumentException;

/**
 * The write side of one account: the stream account:<id>.
 *
 *     AccountAggregateRoot::find(42)->increaseBalance(100)->persist();
 *
 * find() reads the account's state together with its version. Each command
 * method (open, increaseBalance, ...) checks what this side can check, and
 * records events; persist() appends them all in one EVENT.APPEND with
 * EXPECT <version>, so that they land on exactly the state they were decided
 * on, and with an ID, so that a resent append is written once.
 *
 * When another request wrote first (WRONGVERSION), persist() reads the
 * account again and replays the same calls on the new state. The balance
 * rule itself is not coded here: the schema's guard on BalanceDecreased is
 * checked by foldb, atomically with the append, and its REJECTED becomes
 * InsufficientFunds.
 *
 * persistTogether() does the same for several accounts in one transaction
 * (MULTI/EXEC): a Transfer is a withdrawal on one and a deposit on the
 * other, written both or neither.
 */
final class AccountAggregateRoot
{
    /** How many times persist() tries before giving up on a busy account. */
    public const MAX_ATTEMPTS = 50;

    /** @var array<string, mixed>|null the account as of $version and the pending events; null: not open */
    private ?array $state;

    /** @var list<Event> */
    private array $pending = [];

    /** @var list<Closure(): void> the calls that recorded $pending, to replay them on newer state */
    private array $calls = [];

    private int $retries = 0;

    private int $resends = 0;

    private ?Appended $appended = null;

    /** @param array<string, mixed>|null $persisted */
    private function __construct(
        private readonly Client $client,
        public readonly string $id,
        private ?array $persisted,
        private int $version,
    ) {
        $this->state = $persisted;
    }

    /** The account's current state and version; an account not open yet is found too, to be opened. */
    public static function find(int|string $id): self
    {
        $client = Store::client();
        $found = $client->getWithVersion(Account::TYPE, (string) $id);

        return new self($client, (string) $id, $found->data, $found->version);
    }

    public function open(string $uuid, string $name): self
    {
        return $this->call(function () use ($uuid, $name): void {
            if ($this->state !== null) {
                throw AccountAlreadyOpen::withId($this->id);
            }
            $this->record(new Event('AccountOpened', ['uuid' => $uuid, 'name' => $name]));
        });
    }

    public function increaseBalance(int $amount): self
    {
        return $this->call(function () use ($amount): void {
            $this->assertOpen();
            $this->record(new Event('BalanceIncreased', ['amount' => self::positive($amount)]));
        });
    }

    public function decreaseBalance(int $amount): self
    {
        return $this->call(function () use ($amount): void {
            $this->assertOpen();
            // No balance check here: the schema's guard decides, on the server.
            $this->record(new Event('BalanceDecreased', ['amount' => self::positive($amount)]));
        });
    }

    public function close(): self
    {
        return $this->call(function (): void {
            $this->assertOpen();
            $this->record(new Event('AccountClosed'));
        });
    }

    /**
     * Appends the pending events, all or none.
     *
     * @throws InsufficientFunds|OperationRejected a guard of the schema refused them
     * @throws BankException                       a replayed call no longer holds (e.g. the account was closed meanwhile)
     * @throws ConcurrencyConflict                 the account changed under us MAX_ATTEMPTS times
     * @throws ConnectionLost                      foldb could not be reached; the events may or may not be written
     * @throws Loading                             foldb was still loading after all resends; nothing was written
     */
    public function persist(): self
    {
        if ($this->pending !== []) {
            self::commit([bin2hex(random_bytes(16)) => $this]);
        }

        return $this;
    }

    /**
     * Appends the pending events of several accounts in one transaction
     * (MULTI/EXEC): foldb writes all of them in one commit, or none, each
     * account's with EXPECT its version and the ID it is keyed by here, the
     * same across retries and resends, and all with $meta. As persist() it
     * retries after WRONGVERSION (reading every account again and replaying
     * the calls on each), resends after a lost connection, and turns
     * REJECTED into the exception for the account that was refused.
     *
     * @param non-empty-array<string, self> $roots one per account, by the ID of its append
     * @param array<string, mixed>          $meta  the META of every append
     *
     * @throws InsufficientFunds|OperationRejected|BankException|ConcurrencyConflict|ConnectionLost|Loading as persist()
     */
    public static function persistTogether(array $roots, array $meta = []): void
    {
        $accounts = array_map(static fn (self $root): string => $root->id, $roots);
        if (count(array_unique($accounts)) !== count($accounts)) {
            throw new InvalidArgumentException('persistTogether takes each account once, not ' . implode(', ', $accounts));
        }
        $roots = array_filter($roots, static fn (self $root): bool => $root->pending !== []);
        if ($roots !== []) {
            self::commit($roots, $meta);
        }
    }

    public function exists(): bool
    {
        return $this->state !== null;
    }

    public function balance(): int
    {
        return Money::fromJson($this->state['balance'] ?? 0);
    }

    /** The stream's version: persisted events only. */
    public function version(): int
    {
        return $this->version;
    }

    /** How many times persist() had to read again because another request wrote first. */
    public function retries(): int
    {
        return $this->retries;
    }

    /** How many times persist() sent the same append again after a lost connection. */
    public function resends(): int
    {
        return $this->resends;
    }

    /** The last EVENT.APPEND's reply, once persisted. */
    public function appended(): ?Appended
    {
        return $this->appended;
    }

    /** @return list<Event> */
    public function pendingEvents(): array
    {
        return $this->pending;
    }

    /**
     * The retry loop of persist() and persistTogether().
     *
     * @param non-empty-array<string, self> $roots by the ID of their append
     * @param array<string, mixed>          $meta
     */
    private static function commit(array $roots, array $meta = []): void
    {
        for ($attempt = 1; ; ++$attempt) {
            try {
                $appended = self::send($roots, $meta);
                break;
            } catch (WrongVersion $e) {
                if ($attempt >= self::MAX_ATTEMPTS) {
                    array_walk($roots, static fn (self $root) => $root->discard());
                    $ids = implode(', ', array_map(static fn (self $root): string => $root->id, $roots));
                    throw new ConcurrencyConflict("account {$ids} kept changing; gave up after {$attempt} tries", 0, $e);
                }
                usleep(random_int(0, 1_000 * min(2 ** $attempt, 20)));
                try {
                    foreach ($roots as $root) {
                        ++$root->retries;
                        $root->reload();
                    }
                } catch (BankException $replayed) {
                    array_walk($roots, static fn (self $root) => $root->discard());
                    throw $replayed;
                }
            } catch (Rejected $e) {
                array_walk($roots, static fn (self $root) => $root->discard());
                $id = array_values($roots)[($e->command() ?? 1) - 1]->id;
                throw match ($e->reason()) {
                    'insufficient funds' => new InsufficientFunds("account {$id}: insufficient funds", 0, $e),
                    'account already open' => new AccountAlreadyOpen("account {$id} is already open", 0, $e),
                    default => new OperationRejected("account {$id}: {$e->reason()}", 0, $e),
                };
            }
        }
        foreach (array_values($roots) as $i => $root) {
            $landed = $appended[$i]->version === $root->version + count($root->pending);
            $root->appended = $appended[$i];
            $root->pending = [];
            $root->calls = [];
            if ($landed) {
                $root->version = $appended[$i]->version;
                $root->persisted = $root->state;
            } else {
                // The ID was an earlier append's (a transfer id given twice): foldb
                // answered its result and wrote nothing; read what the account is.
                $root->reload();
            }
        }
    }

    /**
     * The pending events at the versions they were decided on: one
     * EVENT.APPEND for one account, a MULTI/EXEC of them for several. When
     * the connection breaks (written or not?), or foldb is still loading, it
     * sends the very same appends again: same EXPECT, same ID. If the first
     * ones were written, foldb answers their result instead of writing the
     * events twice.
     *
     * @param non-empty-array<string, self> $roots by the ID of their append
     * @param array<string, mixed>          $meta
     *
     * @return list<Appended> in the order of $roots
     */
    private static function send(array $roots, array $meta): array
    {
        $appends = [];
        foreach ($roots as $id => $root) {
            $appends[] = new Append("account:{$root->id}", Expect::version($root->version), (string) $id, $root->pending, $meta);
        }
        $client = reset($roots)->client;
        for ($resend = 0; ; ++$resend) {
            try {
                if (count($appends) === 1) {
                    $a = $appends[0];

                    return [$client->append($a->stream, $a->expect, $a->id, $a->events, $a->meta)];
                }

                return $client->appendAll($appends);
            } catch (ConnectionLost|Loading $e) {
                $delay = Client::RESEND_DELAYS_MS[$resend] ?? throw $e;
                array_walk($roots, static fn (self $root) => ++$root->resends);
                usleep($delay * 1_000);
            }
        }
    }

    /** Runs a command method's body now, and keeps it to replay after a reload. */
    private function call(Closure $body): self
    {
        $body();
        $this->calls[] = $body;

        return $this;
    }

    /** Reads the account again and replays the recorded calls on it. */
    private function reload(): void
    {
        $found = $this->client->getWithVersion(Account::TYPE, $this->id);
        $this->persisted = $found->data;
        $this->version = $found->version;
        $this->state = $found->data;
        $this->pending = [];
        foreach ($this->calls as $call) {
            $call();
        }
    }

    /** Forgets the pending events: back to the persisted state. */
    private function discard(): void
    {
        $this->state = $this->persisted;
        $this->pending = [];
        $this->calls = [];
    }

    private function record(Event $event): void
    {
        $this->pending[] = $event;
        $this->apply($event);
    }

    /** The same fold as the schema, so that balance() includes pending events. */
    private function apply(Event $event): void
    {
        $this->state = match ($event->type) {
            'AccountOpened' => ['balance' => 0, 'uuid' => $event->data['uuid'], 'name' => $event->data['name']],
            'BalanceIncreased' => ['balance' => $this->balance() + $event->data['amount']] + $this->state,
            'BalanceDecreased' => ['balance' => $this->balance() - $event->data['amount']] + $this->state,
            'AccountClosed' => null,
        };
    }

    private function assertOpen(): void
    {
        if ($this->state === null) {
            throw AccountNotFound::withId($this->id);
        }
    }

    private static function positive(int $amount): int
    {
        return $amount > 0 ? $amount : throw InvalidAmount::of($amount);
    }
}
