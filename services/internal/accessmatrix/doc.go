// Package accessmatrix holds the generated access matrices (issue 9), in its tests only: one
// process runs every registered target over a clone of OpenTera's test fixture; the test walks
// every route that process serves, read from the process itself (the gRPC services it registered
// with their grpc-gateway bindings, and the plain HTTP route table of login, usermanager and
// websocket), as every fixture account, with requests built from each method's input message and
// its id fields set to ids inside and outside the account's scope.
//
//   - Writes: after every request, a fingerprint of the rows outside the account's write scope
//     (frozen before the walk from the SQL access functions, admin-only form) must not move.
//   - Reads: no answer may carry an id, name or uuid outside the account's read scope.
//
// A route the test cannot build a request for, an id field it cannot map to a table, or a table
// without a scope rule fails the test: an endpoint or table added tomorrow is covered the day it
// lands, or the test says what it needs. `go test ./services/internal/accessmatrix/` runs it;
// -v prints the case counts.
package accessmatrix
