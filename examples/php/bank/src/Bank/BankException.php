<?php

declare(strict_types=1);

namespace Bank;

use DomainException;

/** A business rule said no. Nothing was written. */
abstract class BankException extends DomainException
{
}
