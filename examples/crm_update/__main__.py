from connector.demo.examples import main

main("crm-update")
