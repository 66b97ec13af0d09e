<?php

declare(strict_types=1);

namespace Bank;

use JsonSerializable;

/**
 * The read model of an account: what ENTITY.GET account <id> returns, folded
 * by foldb from the stream account:<id>. Reading is a lookup in the server's
 * memory; there is no query to build and no table to map.
 */
final readonly class Account implements JsonSerializable
{
    public const TYPE = 'account';

    public function __construct(
        public string $id,
        public string $uuid,
        public string $name,
        public int $balance,
    ) {
    }

    /**
     * Every account, in id order. foldb returns ENTITY.ALL without SORTBY
     * in its own order, so the ids are sorted here.
     *
     * @return list<self>
     */
    public static function all(): array
    {
        $accounts = self::where(null);
        usort($accounts, static fn (self $a, self $b): int => strnatcmp($a->id, $b->id));

        return $accounts;
    }

    public static function find(int|string $id): ?self
    {
        $data = Store::client()->get(self::TYPE, (string) $id);

        return $data === null ? null : self::fromData((string) $id, $data);
    }

    public static function findOrFail(int|string $id): self
    {
        return self::find($id) ?? throw AccountNotFound::withId((string) $id);
    }

    /**
     * Accounts that match an expression of foldb's query language.
     *
     *     Account::where('balance > 100', 'balance', 'desc', 10)
     *
     * @return list<self>
     */
    public static function where(
        ?string $expression,
        ?string $sortBy = null,
        string $direction = 'asc',
        ?int $limit = null,
    ): array {
        $pairs = Store::client()->all(self::TYPE, $expression, $sortBy, $direction, $limit);

        return array_map(static fn (array $pair): self => self::fromData(...$pair), $pairs);
    }

    public static function count(?string $where = null): int
    {
        return Store::client()->count(self::TYPE, $where);
    }

    /** @param array<string, mixed> $data */
    public static function fromData(string $id, array $data): self
    {
        return new self(
            id: $id,
            uuid: (string) ($data['uuid'] ?? ''),
            name: (string) ($data['name'] ?? ''),
            balance: Money::fromJson($data['balance'] ?? 0),
        );
    }

    /** @return array{id: string, uuid: string, name: string, balance: int} */
    public function jsonSerialize(): array
    {
        return ['id' => $this->id, 'uuid' => $this->uuid, 'name' => $this->name, 'balance' => $this->balance];
    }
}
