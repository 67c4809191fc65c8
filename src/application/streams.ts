// Stream ids and categories are part of what the log says: they live beside the event versions, in
// src/domain/events, where the read models can take them too.
export * from '../domain/events/streams';
