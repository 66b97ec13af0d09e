<?php

declare(strict_types=1);

// php worker.php <worker-id> <increases> <decreases> <accounts> [transfers]

require __DIR__ . '/bootstrap.php';

exit((new Bank\Cli\Worker())($argv));
