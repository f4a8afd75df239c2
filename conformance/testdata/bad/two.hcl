case "one" {
}
case "two" {
}
