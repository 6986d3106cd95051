export {
  type CreateServerOptions,
  createServer,
  type ServerLimits,
} from './create-server.js';
export { serializeJson } from './http/serialize-json.js';
export { type ErrorBody, errorBody, ServerRequestError } from './http/server-error.js';
export {
  createScoringQueue,
  type ScoredSequence,
  type ScoringQueue,
  type ScoringQueueOptions,
} from './scoring/create-scoring-queue.js';
export { type RunningServer, type ServeOptions, serve } from './serve.js';
