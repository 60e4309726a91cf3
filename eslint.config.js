import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/** What only the appliance may use: the CLI package carries none of it (see package.json). */
const applianceOnlyPackages = ['bullmq', 'fastify', 'hls.js', 'ioredis', 'mediasoup', 'minio', 'mongodb', 'node-media-server', 'prom-client', 'sharp']

export default tseslint.config(
  {ignores: ['**/dist/', '**/node_modules/', 'coverage/', 'test/fixtures/', '**/*.bundle.js']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'no-empty': ['error', {allowEmptyCatch: false}],
    },
  },
  // The boundaries (docs/architecture.md): src/ reaches the appliance only through its contract;
  // the appliance never imports the CLI; a domain never imports a component's entry.
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: applianceOnlyPackages.map((name) => ({name, message: 'The CLI package does not carry the appliance\'s dependencies.'})),
          patterns: [
            {regex: '(^|/)appliance/(?!contract/)', message: 'src/ may import only appliance/contract/ from the appliance.'},
            {group: [...applianceOnlyPackages.map((name) => `${name}/*`), '@fastify/*'], message: 'The CLI package does not carry the appliance\'s dependencies.'},
          ],
        },
      ],
    },
  },
  {
    files: ['appliance/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {regex: '^(\\.\\./)+src/', message: 'The appliance never imports the CLI (src/); shared shapes belong in appliance/contract/.'},
            {regex: '^(\\.\\./)+(main|admin|healthcheck)\\.js$', message: 'A domain never imports an entry point.'},
            {regex: '^\\.\\.?/(\\.\\./)*components/', message: 'A domain never imports a component\'s entry (appliance/components/).'},
          ],
        },
      ],
    },
  },
  {
    // Entry points wire components; components wire domains.
    files: ['appliance/main.ts', 'appliance/components/*.ts'],
    rules: {'no-restricted-imports': ['error', {patterns: [{regex: '^(\\.\\./)+src/', message: 'The appliance never imports the CLI (src/).'}]}]},
  },
  {
    // The contract is what both sides share: it imports nothing of either.
    files: ['appliance/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {patterns: [{regex: '^\\.\\./', message: 'The contract imports only zod and itself.'}]},
      ],
    },
  },
  {
    files: ['bin/**/*.js', 'eslint.config.js', 'scripts/**/*.mjs'],
    languageOptions: {globals: {process: 'readonly', console: 'readonly'}},
  },
)
