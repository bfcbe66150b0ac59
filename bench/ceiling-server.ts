// The machine's ceiling: a bare Node HTTP server answering a constant JSON body, no framework,
// no database. Every other figure is reported as a fraction of what this one reaches.
import http from 'node:http';

const body = JSON.stringify({ id: 'ceiling', email: 'nobody@example.test', mfa: { enabled: true } });
http
  .createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
