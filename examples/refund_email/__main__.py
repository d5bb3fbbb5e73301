from connector.demo.examples import main

main("refund-email")
