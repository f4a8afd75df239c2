case "syntax" {
  behaviour = "broken
}
