upstream "api" {
  max_connections = 0
  endpoint "127.0.0.1:9001" { weight = 101 }
  endpoint "127.0.0.1:9002" { weight = -1 }
  endpoint "127.0.0.1:9003" { weight = 1.5 }
}
