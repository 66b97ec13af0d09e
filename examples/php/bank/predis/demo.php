<?php

declare(strict_types=1);

require __DIR__ . '/bootstrap.php';

exit((new Bank\Cli\Demo())());
