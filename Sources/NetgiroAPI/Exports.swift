// The client's public API speaks in Netgíró's models (requests, responses, errors, result
// codes), so whoever talks to Netgíró through this module gets them with it. Modules that need
// only the models (Checkout, Admission, Journal, the simulator's core) import `NetgiroModels`
// and never this module: `.ci/module-deps` checks that.
@_exported import NetgiroModels
