<?php

declare(strict_types=1);

// A PSR-4 autoloader for the two namespaces of the example, so that it runs
// without Composer: Foldb\ (the client side of foldb) and Bank\ (the app).
spl_autoload_register(static function (string $class): void {
    foreach (['Foldb\\' => __DIR__ . '/Foldb/', 'Bank\\' => __DIR__ . '/Bank/'] as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});
