listener "web" {
  address = "127.0.0.1:8080"

upstream "api" {
