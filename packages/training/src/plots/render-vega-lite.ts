// The renderer lives in @fusechat/plots (shared with the merge report); re-exported here so
// `import { renderVegaLite } from '@fusechat/training'` keeps working.
export { renderVegaLite } from '@fusechat/plots';
