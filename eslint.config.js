import tseslint from 'typescript-eslint';

/**
 * The layers' arrows, kept one way: `src/domain` (what every layer shares) and `src/lib` (generic
 * helpers) are the bottom; storage, nango and webhooks build only on them; http never reaches into
 * an engine's folder (it gets the roles of src/storage/store.ts). Paths are relative imports, so the
 * patterns name the folder wherever it sits above the importing file.
 */
const FOLDERS = ['cli', 'codegen', 'commands', 'config', 'domain', 'http', 'lib', 'main', 'metrics', 'nango', 'notify', 'storage', 'sync', 'webhooks'];
const onlyFrom = (...allowed) => ({
    regex: `^(\\.\\./)+(${FOLDERS.filter((f) => !allowed.includes(f)).join('|')})(/|\\.js$)`,
    message: `This layer imports only from ${allowed.join(', ')} (see the layer rules in eslint.config.js and the README's map).`,
});
const layers = (files, pattern) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns: [pattern] }] } });

export default tseslint.config(
    { ignores: ['dist/', 'node_modules/', 'drizzle/', '.bench/'] },
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        rules: {
            '@typescript-eslint/no-floating-promises': [
                'error',
                { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
            ],
            '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
            '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
            '@typescript-eslint/restrict-template-expressions': 'off',
            '@typescript-eslint/no-unsafe-assignment': 'off',
            '@typescript-eslint/no-unsafe-member-access': 'off',
            '@typescript-eslint/no-unsafe-argument': 'off',
            '@typescript-eslint/no-unsafe-call': 'off',
            '@typescript-eslint/no-unsafe-return': 'off',
            '@typescript-eslint/require-await': 'off',
        },
    },
    layers(['src/lib/**/*.ts'], onlyFrom('lib')),
    layers(['src/domain/**/*.ts'], onlyFrom('domain', 'lib')),
    layers(['src/storage/**/*.ts'], onlyFrom('storage', 'domain', 'lib')),
    layers(['src/nango/**/*.ts'], onlyFrom('nango', 'domain', 'lib')),
    layers(['src/webhooks/**/*.ts'], onlyFrom('webhooks', 'domain', 'lib')),
    // Code generation is pure text from the recorded specs: no database, no Nango.
    layers(['src/codegen/**/*.ts'], onlyFrom('codegen', 'domain', 'lib')),
    layers(['src/http/**/*.ts'], { regex: '(^|/)storage/(sqlite|postgres)/', message: 'http uses the store through its roles (src/storage/store.ts), never an engine folder.' }),
    // Tests read JSON answers loosely; a wrong field fails the assertion anyway.
    { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
    { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
