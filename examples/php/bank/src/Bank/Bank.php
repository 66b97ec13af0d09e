<?php

declare(strict_types=1);

namespace Bank;

use JsonSerializable;

/**
 * The bank's totals: one entity (bank/totals) that foldb folds from the
 * balance events of every account stream, as they are appended. Nobody sums
 * anything at read time, and no writer has to update a counter row.
 */
final readonly class Bank implements JsonSerializable
{
    public function __construct(public int $deposits, public int $withdrawals)
    {
    }

    public static function totals(): self
    {
        $data = Store::client()->get('bank', 'totals') ?? [];

        return new self(
            deposits: Money::fromJson($data['deposits'] ?? 0),
            withdrawals: Money::fromJson($data['withdrawals'] ?? 0),
        );
    }

    /** What all the accounts hold together. */
    public function holdings(): int
    {
        return $this->deposits - $this->withdrawals;
    }

    /** @return array{deposits: int, withdrawals: int} */
    public function jsonSerialize(): array
    {
        return ['deposits' => $this->deposits, 'withdrawals' => $this->withdrawals];
    }
}
