<?php

declare(strict_types=1);

namespace Bank;

/** The schema's guard on BalanceDecreased refused the withdrawal. */
final class InsufficientFunds extends BankException
{
}
