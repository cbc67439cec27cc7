insert into permit_total (enterprise, parameter, year, permit, tonnes)
values (:enterprise, :parameter, :year, :permit, :tonnes)
