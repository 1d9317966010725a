// cron-parser behind one static import: a dynamic import() of this CommonJS package loses its named
// exports once bundled, and the commands that need it load this module lazily instead.
export { CronExpressionParser } from 'cron-parser';
