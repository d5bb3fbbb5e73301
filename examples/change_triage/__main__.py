from connector.demo.examples import main

main("change-triage")
