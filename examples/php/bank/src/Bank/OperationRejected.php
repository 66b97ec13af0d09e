<?php

declare(strict_types=1);

namespace Bank;

/** Another guard of the schema refused the events. */
final class OperationRejected extends BankException
{
}
