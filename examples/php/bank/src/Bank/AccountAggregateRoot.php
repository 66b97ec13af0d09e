<?php

declare(strict_types=1);

namespace Bank;

use Closure;
use Foldb\Appended;
use Foldb\Client;
use Foldb\ConnectionLost;
use Foldb\Event;
use Foldb\Expect;
use Foldb\Loading;
use Foldb\Rejected;
use Foldb\WrongVersion;

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
        if ($this->pending === []) {
            return $this;
        }
        $requestId = bin2hex(random_bytes(16));
        for ($attempt = 1; ; ++$attempt) {
            try {
                $this->appended = $this->send($requestId);
                break;
            } catch (WrongVersion $e) {
                if ($attempt >= self::MAX_ATTEMPTS) {
                    $this->discard();
                    throw new ConcurrencyConflict("account {$this->id} kept changing; gave up after {$attempt} tries", 0, $e);
                }
                ++$this->retries;
                usleep(random_int(0, 1_000 * min(2 ** $attempt, 20)));
                $this->reload();
            } catch (Rejected $e) {
                $this->discard();
                throw match ($e->reason()) {
                    'insufficient funds' => new InsufficientFunds("account {$this->id}: insufficient funds", 0, $e),
                    'account already open' => new AccountAlreadyOpen("account {$this->id} is already open", 0, $e),
                    default => new OperationRejected("account {$this->id}: {$e->reason()}", 0, $e),
                };
            }
        }
        $this->version = $this->appended->version;
        $this->persisted = $this->state;
        $this->pending = [];
        $this->calls = [];

        return $this;
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
     * One EVENT.APPEND of the pending events at the version they were
     * decided on. When the connection breaks (written or not?), or foldb is
     * still loading, it sends the very same append again: same EXPECT, same
     * ID. If the first one was written, foldb answers its result instead of
     * writing the events twice.
     */
    private function send(string $requestId): Appended
    {
        for ($resend = 0; ; ++$resend) {
            try {
                return $this->client->append("account:{$this->id}", Expect::version($this->version), $requestId, $this->pending);
            } catch (ConnectionLost|Loading $e) {
                $delay = Client::RESEND_DELAYS_MS[$resend] ?? throw $e;
                ++$this->resends;
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
        try {
            foreach ($this->calls as $call) {
                $call();
            }
        } catch (BankException $e) {
            $this->discard();
            throw $e;
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
